"""A third opinion on medrelay's FHIR: the Python models of fhir.resources 6.2.2 (FHIR R4,
4.0.1; later releases are R4B and R5) parse every resource in a folder, refusing unknown
elements, missing required ones and values of the wrong type.

Usage: <python with fhir.resources==6.2.2 and pydantic<2> .ci/fhir-validate.py <folder>
"""

import json
import pathlib
import sys

import fhir.resources
from fhir.resources import construct_fhir_element


def main() -> int:
    if fhir.resources.__fhir_version__ != "4.0.1":
        print(f"fhir.resources {fhir.resources.__version__} is FHIR {fhir.resources.__fhir_version__}, not R4")
        return 2
    files = sorted(pathlib.Path(sys.argv[1]).glob("*.json"))
    invalid = 0
    for path in files:
        resource = json.loads(path.read_text(encoding="utf-8"))
        try:
            construct_fhir_element(resource["resourceType"], resource)
        except Exception as error:  # the models raise pydantic's errors, and more
            invalid += 1
            print(f"{path.name}: {error}")
    print(f"fhir.resources checked {len(files)} resources: {invalid} invalid")
    return 0 if files and invalid == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
