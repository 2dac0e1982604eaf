# The README's start command as an image: `ppu-sim serve` with the built-in packs, plus the packs
# in /scenarios (mount a folder there). Dependencies get a layer of their own, so a change to the
# README, a scenario or the code reinstalls only the package.
FROM python:3.11-slim

# An unprivileged user, and the folder for the user's packs (empty unless one is mounted there).
RUN useradd --create-home --uid 10001 ppu && mkdir /scenarios
WORKDIR /app

# Layer 1: the dependencies declared in pyproject.toml, and nothing else.
COPY pyproject.toml ./
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" > requirements.txt \
    && pip install --no-cache-dir -r requirements.txt

# Layer 2: the package itself (the contract, the built-in packs and plans ship inside it).
COPY README.md ./
COPY src ./src
COPY openapi ./openapi
COPY scenarios ./scenarios
COPY plans ./plans
RUN pip install --no-cache-dir --no-deps . && rm -rf src build

USER 10001
ENV PPU_SIM_HOST=0.0.0.0 PPU_SIM_PORT=8080 PPU_SIM_SCENARIOS=/scenarios
EXPOSE 8080
# Asks /health on the configured port: -e PPU_SIM_PORT=8093 moves the check with the server.
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/health' % os.environ.get('PPU_SIM_PORT', '8080'), timeout=2)"]
CMD ["ppu-sim", "serve"]
