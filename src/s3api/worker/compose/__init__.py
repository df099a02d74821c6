"""Composed images of the output templates: pure functions from arrays to arrays.

Each module renders one template's pictures (`before_after`, `share_card`, `draft_board`,
`product_pack`, `option_board`, `thumbnails`) at the sizes `docs/api.md` documents, and
`watermark` stamps the free plan's mark. Nothing here reads or writes storage: the caller
decodes the photos, passes masks where a layout needs the product, and encodes the output.
"""
