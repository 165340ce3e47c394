"""Tests of mamori.web: the HTTP application, its server and its body decoding."""
