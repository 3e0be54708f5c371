"""The catalogue: public author and work records imported from open scholarly data (OpenAlex)."""
