"""A Flask page over cached model functions, one request scope per HTTP request."""
