#ifndef OKRA_CRDKAFKA_SHIM_H
#define OKRA_CRDKAFKA_SHIM_H

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

/// Produces one message through the variadic rd_kafka_producev, which Swift cannot call.
/// The payload and key are copied. On success librdkafka owns `headers` (may be NULL);
/// on failure the caller still owns them. `opaque` comes back in the delivery report.
static inline rd_kafka_resp_err_t okra_rdk_produce(rd_kafka_t *rk,
                                                   rd_kafka_topic_t *rkt,
                                                   const void *payload, size_t payload_len,
                                                   const void *key, size_t key_len,
                                                   rd_kafka_headers_t *headers,
                                                   void *opaque) {
    return rd_kafka_producev(rk,
                             RD_KAFKA_V_RKT(rkt),
                             RD_KAFKA_V_PARTITION(RD_KAFKA_PARTITION_UA),
                             RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                             RD_KAFKA_V_VALUE((void *)payload, payload_len),
                             RD_KAFKA_V_KEY(key, key_len),
                             RD_KAFKA_V_HEADERS(headers),
                             RD_KAFKA_V_OPAQUE(opaque),
                             RD_KAFKA_V_END);
}

/// The offset sentinel for "the first offset available" (a macro Swift cannot import).
static inline int64_t okra_rdk_offset_beginning(void) { return RD_KAFKA_OFFSET_BEGINNING; }

/// Partition sentinel "let the partitioner choose" (a macro Swift cannot import).
static inline int32_t okra_rdk_partition_unassigned(void) { return RD_KAFKA_PARTITION_UA; }

#endif
