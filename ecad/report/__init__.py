"""What a person reads about a search: units, the HTML report (``ecad report``)."""
