// A webhook receiver as a team would write it in Go instead of running okra-bridge: net/http,
// Sarama, acks=all, 200 only after Kafka acknowledged the record. It checks the token, parses
// the JSON and picks the topic per product and outcome. Benchmark peer only (docs/benchmarks.md):
// no store, no dedupe, no event log; a Kafka outage turns every webhook into a 503.
//
// Built offline in GOPATH mode against Debian's packages (scripts/bench.sh does it):
//   GOPATH=/usr/share/gocode GO111MODULE=off go build -o okra-peer-go bench/peers/go/main.go
package main

import (
	"crypto/subtle"
	"encoding/json"
	"flag"
	"io"
	"log"
	"net/http"
	"os"
	"strings"

	"github.com/Shopify/sarama"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:8080", "address to listen on")
	brokers := flag.String("brokers", "127.0.0.1:9092", "Kafka bootstrap servers")
	prefix := flag.String("topic-prefix", "okra", "topics are PREFIX.PRODUCT.OUTCOME")
	flag.Parse()
	token := []byte(os.Getenv("PEER_TOKEN"))
	if len(token) == 0 {
		log.Fatal("PEER_TOKEN is required")
	}

	config := sarama.NewConfig()
	config.Version = sarama.V2_0_0_0 // record headers and v2 batches
	config.Producer.RequiredAcks = sarama.WaitForAll
	config.Producer.Return.Successes = true
	config.Producer.Return.Errors = true
	config.Producer.Retry.Max = 5
	// Idempotence would need InitProducerId, whose version this Sarama sends the dev broker
	// refuses; a production team would turn it on.
	config.Producer.Idempotent = false
	producer, err := sarama.NewSyncProducer(strings.Split(*brokers, ","), config)
	if err != nil {
		log.Fatalf("kafka: %v", err)
	}
	defer producer.Close()

	http.HandleFunc("/webhooks/okra", func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			http.Error(w, `{"error":"method"}`, http.StatusMethodNotAllowed)
			return
		}
		if subtle.ConstantTimeCompare([]byte(r.Header.Get("Okra-Auth")), token) != 1 {
			http.Error(w, `{"error":"unauthorized"}`, http.StatusUnauthorized)
			return
		}
		body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		if err != nil {
			http.Error(w, `{"error":"read"}`, http.StatusBadRequest)
			return
		}
		var payload map[string]any
		if err := json.Unmarshal(body, &payload); err != nil {
			http.Error(w, `{"error":"malformed"}`, http.StatusBadRequest)
			return
		}
		product, outcome := classify(payload)
		message := &sarama.ProducerMessage{
			Topic: *prefix + "." + product + "." + outcome,
			Value: sarama.ByteEncoder(body),
		}
		if record := text(payload, "record", "recordId"); record != "" {
			message.Key = sarama.StringEncoder(record)
		}
		if _, _, err := producer.SendMessage(message); err != nil {
			http.Error(w, `{"error":"kafka"}`, http.StatusServiceUnavailable)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"status":"accepted"}`))
	})
	log.Printf("listening on %s", *listen)
	log.Fatal(http.ListenAndServe(*listen, nil))
}

// classify names the product and the outcome the way a team's first version would: the product
// from the callback's type or method, the outcome from its code or status.
func classify(payload map[string]any) (string, string) {
	product := strings.ToLower(text(payload, "callback_type", "method", "type", "event"))
	if product == "" {
		product = "unknown"
	}
	signal := strings.ToUpper(text(payload, "code", "callback_code", "status"))
	outcome := "other"
	switch {
	case strings.Contains(signal, "SUCCESS"):
		outcome = "success"
	case strings.Contains(signal, "FAIL"), strings.Contains(signal, "ERROR"):
		outcome = "failed"
	}
	return product, outcome
}

func text(payload map[string]any, keys ...string) string {
	for _, key := range keys {
		if value, ok := payload[key].(string); ok && value != "" {
			return value
		}
	}
	return ""
}
