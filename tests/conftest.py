pytest_plugins = ["fixtures_dns", "fixtures_postgres", "fixtures_tls"]
