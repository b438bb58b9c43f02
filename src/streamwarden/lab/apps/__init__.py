"""Tiny streaming apps the lab runs as real processes (gunicorn `module:app`, uvicorn).

Each streams OpenAI `chat.completion.chunk` events and `data: [DONE]`, paced by query
parameters (`tokens`, `tps`, `ttft`), so the probe reads them like any OpenAI endpoint.
"""
