// the gallery
