FROM python:3.10-slim

WORKDIR /app

# Install system dependencies
RUN apt-get update && apt-get install -y --no-install-recommends \
    gcc \
    && rm -rf /var/lib/apt/lists/*

# Install Python dependencies
COPY backend/app/requirements.txt .
RUN pip install --no-cache-dir -r requirements.txt

# Copy application code
COPY backend/app/ .

# Expose port
EXPOSE 8000

# Run the application
CMD ["uvicorn", "api.main:create_fast_api", "--host", "0.0.0.0", "--port", "8000", "--factory"]
