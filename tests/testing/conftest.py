"""pytester runs the plugin's fixtures in throwaway test projects."""

pytest_plugins = ["pytester"]
