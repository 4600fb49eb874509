FROM continuumio/miniconda3
WORKDIR /app
COPY environment.yml .
RUN <<-EOF
	conda env create -f environment.yml
	EOF
SHELL ["conda", "run", "-n", "myenv", "/bin/bash", "-c"]
RUN <<SCRIPT
echo "Make sure flask is installed:" && python -c "import flask"
SCRIPT
COPY run.py .
ENTRYPOINT ["conda", "run", "--no-capture-output", "-n", "myenv", "python", "run.py"]
