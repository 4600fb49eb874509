# escape=`
 froM python:3.12-slim AS base
Env PYTHONDONTWRITEBYTECODE=1 `
    PYTHONUNBUFFERED=1 `
    PIP_NO_CACHE_DIR=off `
    POETRY_VERSION=1.8.2

    RUN apt-get update `
 && apt-get install -y --no-install-recommends build-essential curl `
 && rm -rf /var/lib/apt/lists/*

RuN pip install "poetry==$POETRY_VERSION"
	WOrkDIr /code
	cOpy poetry.lock pyproject.toml /code/
	rUn poetry config virtualenvs.create false `
  && poetry install --no-interaction --no-ansi
 copy . /code
entrYpoiNt ["python", "-m", "app"]
