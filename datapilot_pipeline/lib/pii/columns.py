"""What a column's name says about its values, in the languages of the configured locales.

`column_entity("customer_name") == "PERSON"`, `column_entity("Straße") == "STREET_ADDRESS"`; a column
name that names a kind of identifier (`phone`, `ssn`, `bsn`, `tax_id`, ...) is context for the
recognizers (`is_context_column`), so a bare `4155552671` under `mobile` is a phone number.
"""

from __future__ import annotations

import re
from functools import lru_cache

_NAME_WORDS = {
    "name", "names", "fullname", "firstname", "lastname", "surname", "givenname", "forename", "nombre", "apellido",
    "apellidos", "nom", "prenom", "prénom", "vorname", "nachname", "familienname", "nome", "cognome", "naam",
    "voornaam", "achternaam", "sobrenome",
}
_PERSON_NOUNS = {
    "customer", "client", "contact", "person", "owner", "employee", "agent", "buyer", "seller", "recipient",
    "sender", "patient", "cardholder", "holder", "kunde", "kundin", "ansprechpartner", "cliente", "contacto",
    "contatto", "contato", "klant", "contactpersoon", "titular", "destinataire", "destinatario",
}
_NOT_PERSON = {
    "product", "company", "store", "shop", "category", "city", "country", "region", "brand", "item", "file",
    "dataset", "column", "state", "team", "department", "org", "organization", "organisation", "business",
    "plan", "campaign", "event", "host", "domain", "device", "model", "segment", "tier", "type", "status", "id",
    "code", "count", "age", "since", "score", "level", "group", "email", "mail", "phone", "tel", "ip",
    "number", "no", "nr", "num", "key", "sku", "channel", "source", "file", "table", "feature", "metric",
}
_ADDRESS_WORDS = {
    "address", "addr", "street", "streetaddress", "address1", "address2", "line1", "line2", "adresse",
    "anschrift", "strasse", "straße", "direccion", "dirección", "domicilio", "calle", "indirizzo", "via",
    "adres", "straat", "straatnaam", "endereco", "endereço", "rua", "logradouro",
}
_NOT_ADDRESS = {"email", "mail", "ip", "ipv4", "ipv6", "mac", "web", "url", "wallet", "e"}
_CONTEXT_WORDS = {
    "phone", "tel", "telephone", "mobile", "cell", "fax", "whatsapp", "telefon", "telefono", "teléfono", "telefone",
    "telefoon", "movil", "móvil", "cellulare", "celular", "handy", "portable", "ssn", "sin", "nino", "bsn", "cpf",
    "nif", "nie", "dni", "aadhaar", "pan", "tfn", "nir", "insee", "steuerid", "taxid", "tax", "national", "card",
    "iban", "account", "codicefiscale", "fiscale", "sofinummer", "burgerservicenummer", "ip",
}


@lru_cache(maxsize=4096)
def column_tokens(column: str) -> tuple[str, ...]:
    spaced = re.sub(r"([a-zà-ÿ])([A-Z])", r"\1 \2", column)
    return tuple(t for t in re.split(r"[^0-9A-Za-zÀ-ÿ]+", spaced.lower()) if t)


@lru_cache(maxsize=4096)
def column_entity(column: str | None) -> str | None:
    """`PERSON` or `STREET_ADDRESS` when the column's name says its values are names or street addresses."""
    if not column:
        return None
    tokens = set(column_tokens(column))
    if tokens & _ADDRESS_WORDS and not tokens & _NOT_ADDRESS:
        return "STREET_ADDRESS"
    if tokens & _NOT_PERSON:
        return None
    if tokens & _NAME_WORDS or tokens & _PERSON_NOUNS:
        return "PERSON"
    return None


@lru_cache(maxsize=4096)
def is_context_column(column: str | None) -> bool:
    return bool(column) and bool(set(column_tokens(column)) & _CONTEXT_WORDS)
