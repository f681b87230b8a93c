from playground.cli.main import app

app()
