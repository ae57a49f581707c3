"""ispctl's services, one package each, found through ``registry``."""
