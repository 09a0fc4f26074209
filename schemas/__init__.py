"""pandera models shared by the domain and the pipeline: CRM relations, profiles, warehouse."""
