"""Private: free to change (the public API: ``stratagem``, ``stratagem.testing``)."""
