"""The card format: parsing YAML, the card model, names, URIs and the validation rules."""
