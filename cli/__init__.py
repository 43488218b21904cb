"""The ``mlcycle`` command line: the platform's stages, its local S3 server and cluster submission, for people.

One module per command group; :mod:`cli.main` holds the root command and registers them.
"""
