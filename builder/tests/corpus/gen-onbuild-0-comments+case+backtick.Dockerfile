# escape=`
from python:3.12
onBUILd ADD . /app/src
onbUild RUN /usr/local/bin/python-build --dir /app/src
ONBUiLd COPY ["requirements.txt", "/app/"]
onbuilD ENV APP_HOME=/app
cMD ["python"]
