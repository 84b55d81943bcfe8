from radiopredict._version import __version__
