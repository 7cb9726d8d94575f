"""Fixed reference data of the synthetic store: places, names, product types, brands."""

from __future__ import annotations

# (city, region, country, latitude, longitude, timezone, utc_offset_hours, weight, zips,
#  phone prefix). Coordinates are city centres; people are scattered a few km around them.
# The Boston cluster and the rest of New England are deliberately dense so location segments
# ("within 10 miles of Boston", "in New England") find people at small scales.
CITIES = [
    ("Boston", "MA", "US", 42.3601, -71.0589, "America/New_York", -5, 9.0, ("02108", "02116", "02118", "02127"), "+1617"),
    ("Cambridge", "MA", "US", 42.3736, -71.1097, "America/New_York", -5, 4.0, ("02138", "02139", "02141"), "+1617"),
    ("Somerville", "MA", "US", 42.3876, -71.0995, "America/New_York", -5, 2.5, ("02143", "02144", "02145"), "+1617"),
    ("Brookline", "MA", "US", 42.3318, -71.1212, "America/New_York", -5, 1.5, ("02445", "02446"), "+1617"),
    ("Quincy", "MA", "US", 42.2529, -71.0023, "America/New_York", -5, 1.5, ("02169", "02170"), "+1617"),
    ("Newton", "MA", "US", 42.3370, -71.2092, "America/New_York", -5, 1.5, ("02458", "02459", "02460"), "+1617"),
    ("Worcester", "MA", "US", 42.2626, -71.8023, "America/New_York", -5, 1.5, ("01602", "01604", "01609"), "+1508"),
    ("Providence", "RI", "US", 41.8240, -71.4128, "America/New_York", -5, 2.0, ("02903", "02906", "02908"), "+1401"),
    ("Hartford", "CT", "US", 41.7658, -72.6734, "America/New_York", -5, 1.5, ("06103", "06105", "06106"), "+1860"),
    ("Portland", "ME", "US", 43.6591, -70.2568, "America/New_York", -5, 1.0, ("04101", "04102", "04103"), "+1207"),
    ("Manchester", "NH", "US", 42.9956, -71.4548, "America/New_York", -5, 1.0, ("03101", "03102", "03104"), "+1603"),
    ("Burlington", "VT", "US", 44.4759, -73.2121, "America/New_York", -5, 0.7, ("05401", "05408"), "+1802"),
    ("New York", "NY", "US", 40.7128, -74.0060, "America/New_York", -5, 8.0, ("10001", "10011", "10024", "10128"), "+1212"),
    ("Brooklyn", "NY", "US", 40.6782, -73.9442, "America/New_York", -5, 4.0, ("11201", "11211", "11215"), "+1718"),
    ("Philadelphia", "PA", "US", 39.9526, -75.1652, "America/New_York", -5, 3.0, ("19103", "19107", "19147"), "+1215"),
    ("Washington", "DC", "US", 38.9072, -77.0369, "America/New_York", -5, 2.5, ("20001", "20009", "20016"), "+1202"),
    ("Miami", "FL", "US", 25.7617, -80.1918, "America/New_York", -5, 2.5, ("33130", "33131", "33139"), "+1305"),
    ("Atlanta", "GA", "US", 33.7490, -84.3880, "America/New_York", -5, 2.5, ("30303", "30308", "30309"), "+1404"),
    ("Chicago", "IL", "US", 41.8781, -87.6298, "America/Chicago", -6, 5.0, ("60601", "60614", "60622"), "+1312"),
    ("Minneapolis", "MN", "US", 44.9778, -93.2650, "America/Chicago", -6, 1.5, ("55401", "55405", "55408"), "+1612"),
    ("Austin", "TX", "US", 30.2672, -97.7431, "America/Chicago", -6, 2.5, ("78701", "78704", "78751"), "+1512"),
    ("Houston", "TX", "US", 29.7604, -95.3698, "America/Chicago", -6, 3.0, ("77002", "77006", "77019"), "+1713"),
    ("Denver", "CO", "US", 39.7392, -104.9903, "America/Denver", -7, 2.0, ("80202", "80205", "80218"), "+1303"),
    ("Phoenix", "AZ", "US", 33.4484, -112.0740, "America/Phoenix", -7, 2.0, ("85003", "85004", "85012"), "+1602"),
    ("Los Angeles", "CA", "US", 34.0522, -118.2437, "America/Los_Angeles", -8, 6.0, ("90012", "90026", "90046"), "+1213"),
    ("San Francisco", "CA", "US", 37.7749, -122.4194, "America/Los_Angeles", -8, 3.5, ("94103", "94110", "94117"), "+1415"),
    ("San Diego", "CA", "US", 32.7157, -117.1611, "America/Los_Angeles", -8, 2.0, ("92101", "92103", "92109"), "+1619"),
    ("Seattle", "WA", "US", 47.6062, -122.3321, "America/Los_Angeles", -8, 3.0, ("98101", "98103", "98122"), "+1206"),
    ("Portland", "OR", "US", 45.5152, -122.6784, "America/Los_Angeles", -8, 2.0, ("97201", "97209", "97214"), "+1503"),
    ("Toronto", "ON", "CA", 43.6532, -79.3832, "America/Toronto", -5, 4.0, ("M5V 2T6", "M4C 1B5", "M6J 3P6"), "+1416"),
    ("Ottawa", "ON", "CA", 45.4215, -75.6972, "America/Toronto", -5, 1.2, ("K1P 5G4", "K2P 1L4"), "+1613"),
    ("Montreal", "QC", "CA", 45.5017, -73.5673, "America/Toronto", -5, 2.5, ("H2X 1Y4", "H3B 2Y5", "H2T 1S6"), "+1514"),
    ("Vancouver", "BC", "CA", 49.2827, -123.1207, "America/Vancouver", -8, 2.5, ("V6B 1A1", "V5K 0A1", "V6K 2G8"), "+1604"),
    ("Calgary", "AB", "CA", 51.0447, -114.0719, "America/Edmonton", -7, 1.5, ("T2P 1J9", "T2R 0E1"), "+1403"),
    ("Halifax", "NS", "CA", 44.6488, -63.5752, "America/Halifax", -4, 0.8, ("B3H 1A1", "B3J 2K9"), "+1902"),
    ("London", "England", "GB", 51.5074, -0.1278, "Europe/London", 0, 5.0, ("SW1A 1AA", "E1 6AN", "N1 9GU", "SE1 7PB"), "+4420"),
    ("Manchester", "England", "GB", 53.4808, -2.2426, "Europe/London", 0, 1.5, ("M1 1AE", "M4 5JD"), "+44161"),
    ("Edinburgh", "Scotland", "GB", 55.9533, -3.1883, "Europe/London", 0, 1.0, ("EH1 1YZ", "EH8 9YL"), "+44131"),
    ("Cardiff", "Wales", "GB", 51.4816, -3.1791, "Europe/London", 0, 0.6, ("CF10 1EP", "CF24 4HQ"), "+4429"),
    ("Dublin", "Leinster", "IE", 53.3498, -6.2603, "Europe/Dublin", 0, 0.8, ("D02 X285", "D08 VF8H"), "+3531"),
    ("Sydney", "NSW", "AU", -33.8688, 151.2093, "Australia/Sydney", 10, 1.5, ("2000", "2010", "2026"), "+612"),
    ("Melbourne", "VIC", "AU", -37.8136, 144.9631, "Australia/Melbourne", 10, 1.2, ("3000", "3053", "3181"), "+613"),
]

# First names with the gender a name predictor should find; "u" names are deliberately ambiguous.
FIRST_NAMES = [
    ("James", "m"), ("John", "m"), ("Robert", "m"), ("Michael", "m"), ("David", "m"),
    ("William", "m"), ("Daniel", "m"), ("Matthew", "m"), ("Andrew", "m"), ("Joshua", "m"),
    ("Ethan", "m"), ("Liam", "m"), ("Noah", "m"), ("Lucas", "m"), ("Oliver", "m"),
    ("Benjamin", "m"), ("Samuel", "m"), ("Henry", "m"), ("Thomas", "m"), ("Kevin", "m"),
    ("Mary", "f"), ("Jennifer", "f"), ("Linda", "f"), ("Elizabeth", "f"), ("Sarah", "f"),
    ("Jessica", "f"), ("Emily", "f"), ("Emma", "f"), ("Olivia", "f"), ("Sophia", "f"),
    ("Isabella", "f"), ("Mia", "f"), ("Charlotte", "f"), ("Amelia", "f"), ("Hannah", "f"),
    ("Grace", "f"), ("Chloe", "f"), ("Laura", "f"), ("Rachel", "f"), ("Megan", "f"),
    ("Jordan", "u"), ("Taylor", "u"), ("Alex", "u"), ("Casey", "u"), ("Riley", "u"),
    ("Morgan", "u"), ("Jamie", "u"), ("Avery", "u"),
]

LAST_NAMES = [
    "Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller", "Davis", "Rodriguez",
    "Martinez", "Hernandez", "Lopez", "Wilson", "Anderson", "Thomas", "Taylor", "Moore",
    "Jackson", "Martin", "Lee", "Thompson", "White", "Harris", "Clark", "Lewis", "Robinson",
    "Walker", "Young", "Allen", "King", "Wright", "Scott", "Nguyen", "Hill", "Green", "Adams",
    "Baker", "Nelson", "Carter", "Mitchell", "Murphy", "Kelly", "O'Brien", "Sullivan", "Tremblay",
    "Gagnon", "Roy", "Patel", "Chen", "Kim",
]

EMAIL_DOMAINS = ["gmail.com", "yahoo.com", "outlook.com", "icloud.com", "hotmail.com", "proton.me", "aol.com"]

# category -> list of (product type, lowest price, highest price)
PRODUCT_TYPES = {
    "Apparel": [("Shorts", 24, 48), ("Tank Top", 16, 34), ("T-Shirt", 18, 42), ("Hoodie", 48, 95),
                ("Leggings", 38, 88), ("Jacket", 85, 240), ("Socks", 8, 18)],
    "Footwear": [("Running Shoes", 85, 190), ("Sandals", 28, 72), ("Sneakers", 65, 150)],
    "Accessories": [("Cap", 18, 36), ("Water Bottle", 14, 42), ("Backpack", 45, 140),
                    ("Sunglasses", 35, 170)],
    "Home": [("Candle", 12, 42), ("Mug", 10, 26), ("Throw Blanket", 42, 130)],
    "Beauty": [("Lip Balm", 4, 12), ("Face Cream", 22, 78), ("Shampoo", 10, 32)],
}

BRANDS = ["Northwind", "Harbor & Pine", "Lumen", "Fieldcraft", "Kestrel", "Bluefin"]

STYLES = ["Classic", "Trail", "Everyday", "Summit", "Coastal", "Studio", "Heritage", "Breeze"]
COLOURS = ["Black", "Navy", "Sand", "Olive", "Coral", "Grey", "White", "Rust"]
