from quartapp import create_app

app = create_app()
