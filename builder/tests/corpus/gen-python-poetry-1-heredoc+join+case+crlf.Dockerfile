froM python:3.12-slim AS base
eNV PYTHONDONTWRITEBYTECODE=1     PYTHONUNBUFFERED=1     PIP_NO_CACHE_DIR=off \
    POETRY_VERSION=1.8.2

Run apt-get update  && apt-get install -y --no-install-recommends build-essential curl  && rm -rf /var/lib/apt/lists/*

RUN <<'EOT'
pip install "poetry==$POETRY_VERSION"
EOT
wOrkDir /code
cOPY poetry.lock pyproject.toml /code/
run poetry config virtualenvs.create false   && poetry install --no-interaction --no-ansi
COpY . /code
EntrYpOInt ["python", "-m", "app"]
