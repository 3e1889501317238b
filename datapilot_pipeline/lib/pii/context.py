"""Context words: what, written just before a digit run, says which identifier it is (`phone 4155552671`,
`BSN 214035797`), or that a dotted quad is a version rather than an IP address (`version 1.18.0.189`)."""

from __future__ import annotations

CONTEXT = {
    "PHONE_NUMBER": ("phone", "tel", "mobile", "cell", "call", "fax", "whatsapp", "sms", "contact",
                     "telefon", "téléphone", "teléfono", "telefono", "telefone", "telefoon", "móvil", "movil",
                     "cellulare", "celular", "handy", "portable", "mob", "ph:", "ring", "dial", "voicemail", "reach",
                     "text", "rufnummer"),
    "CREDIT_CARD": ("card", "visa", "mastercard", "amex", "maestro", "jcb", "discover", "diners", "unionpay",
                    "karte", "tarjeta", "carta", "cartão", "carte", "kaart", "pan", "cc", "chargeback", "payment",
                    "paid", "pago", "paiement", "zahlung", "pagamento", "betaling"),
    "NL_BSN": ("bsn", "burgerservice", "sofi"), "CA_SIN": ("sin", "social insurance"),
    "AU_TFN": ("tfn", "tax file"), "DE_TAX_ID": ("steuer", "tax id", "tin", "idnr"),
    "IN_AADHAAR": ("aadhaar", "aadhar", "uid"), "US_SSN": ("ssn", "social security"),
    "BR_CPF": ("cpf",), "FR_NIR": ("nir", "insee", "sécurité sociale", "securite sociale", "social"),
}
VERSION_WORDS = ("version", "ver", "v", "release", "build", "rev", "firmware", "sdk", "update", "upgrade",
                  "patch", "versión", "versione", "versão", "versie", "library", "package")


def has_context(entity: str, before: str) -> bool:
    tail = before[-40:].lower()
    return any(word in tail for word in CONTEXT.get(entity, ()))

# Texts analyzed in one Presidio call are joined by a blank line: no pattern here matches across one, and no text
# takes context from the one before it (`text_before`).
TEXT_SEPARATOR = "\n\n"


def text_before(text: str, start: int, width: int = 40) -> str:
    """Up to `width` characters before `start`, not reaching back over a `TEXT_SEPARATOR`."""
    window = text[max(0, start - width):start]
    cut = window.rfind(TEXT_SEPARATOR)
    return window if cut < 0 else window[cut + len(TEXT_SEPARATOR):]
