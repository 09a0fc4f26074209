"""Client segmentation of a financial-advisory firm: the rules, in plain pandas."""
