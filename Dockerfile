FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY domain domain
COPY projections projections
COPY adapters adapters
COPY bootstrap bootstrap
COPY operations operations
COPY api api
COPY workers workers
COPY peerledger peerledger
RUN pip install --no-cache-dir . && useradd --system peerledger
USER peerledger
EXPOSE 8000
CMD ["peerledger", "serve", "--host", "0.0.0.0"]
