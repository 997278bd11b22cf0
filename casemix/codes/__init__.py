"""Code dictionaries (医保版 ICD-10 2.0, ICD-9-CM-3 2.0), normalisation and crosswalks."""

from casemix.codes.codebook import CodeBook, CodeNote, load_codebook

__all__ = ["CodeBook", "CodeNote", "load_codebook"]
