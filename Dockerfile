# A plain mirror of the README: install the package, start `ppu-sim serve` with the built-in packs.
FROM python:3.11-slim

RUN useradd --create-home --uid 10001 ppu
WORKDIR /app
COPY pyproject.toml README.md ./
COPY src ./src
COPY openapi ./openapi
COPY scenarios ./scenarios
RUN pip install --no-cache-dir . && rm -rf /app/src

USER ppu
ENV PPU_SIM_HOST=0.0.0.0 PPU_SIM_PORT=8080
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s \
  CMD python -c "import urllib.request,sys; sys.exit(urllib.request.urlopen('http://127.0.0.1:8080/health').status != 200)"
CMD ["ppu-sim", "serve"]
