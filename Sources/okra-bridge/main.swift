import OkraKafka
import Hummingbird
import GRDB
import Prometheus
print("hi")
