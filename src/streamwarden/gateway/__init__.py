"""The streaming gateway: app, admission, auth, metrics and drain."""
