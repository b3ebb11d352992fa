# One image for the API, the worker and the migrations; docker-compose.yml picks the command:
#   API (default)  uvicorn api.app:create_app --factory --host 0.0.0.0 --port 8000
#   worker         python worker.py
#   migrations     python -m stack.migrate
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app

# The dependencies first, in a layer of their own: it is rebuilt only when pyproject.toml changes. Only the
# runtime's: no extra, so neither the embedded PostgreSQL and Temporal servers nor the dev tools ship.
COPY pyproject.toml ./
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" \
        > /tmp/requirements.txt \
    && pip install -r /tmp/requirements.txt \
    && rm /tmp/requirements.txt

# Only what runs: the packages of [tool.setuptools.packages.find], worker.py and the alembic history
# (and README.md, which pyproject.toml names as the readme).
COPY api/ api/
COPY activities/ activities/
COPY contracts/ contracts/
COPY services/ services/
COPY stack/ stack/
COPY usecases/ usecases/
COPY workflows/ workflows/
COPY README.md worker.py alembic.ini ./
COPY migrations/ migrations/

# The processes run from /app (stack.migrate finds alembic.ini and migrations/ beside its package).
RUN pip install . \
    && rm -rf build ./*.egg-info \
    && groupadd --system --gid 10001 orderflow \
    && useradd --system --uid 10001 --gid orderflow --create-home --home-dir /home/orderflow orderflow

USER 10001:10001

EXPOSE 8000
CMD ["uvicorn", "api.app:create_app", "--factory", "--host", "0.0.0.0", "--port", "8000"]
