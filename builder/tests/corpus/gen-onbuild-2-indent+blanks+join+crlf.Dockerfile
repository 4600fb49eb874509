	FROM python:3.12
ONBUILD ADD . /app/src
 ONBUILD RUN /usr/local/bin/python-build --dir /app/src

    ONBUILD COPY ["requirements.txt", "/app/"]
    ONBUILD ENV APP_HOME=/app

	CMD ["python"]

