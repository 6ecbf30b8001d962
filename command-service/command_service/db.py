from oms_shared import Database

db = Database()
