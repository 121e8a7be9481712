//! SMS encoding (GSM-7 or UCS-2) and segment counting.
