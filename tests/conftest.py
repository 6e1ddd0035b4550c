def pytest_configure(config):
    # Markers of tests/test_server.py: settings the LSP client starts with.
    config.addinivalue_line(
        "markers", "init_options(options): initializationOptions sent by the client"
    )
    config.addinivalue_line(
        "markers", "client_settings(settings): the client's `den` configuration"
    )
    config.addinivalue_line("markers", "no_root: the client opens no workspace folder")
