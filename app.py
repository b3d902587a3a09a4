from provisioner import create_app

app = create_app()
