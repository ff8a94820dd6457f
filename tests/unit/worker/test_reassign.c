/*  test_reassign - a worker's consumer moved from job to job on one
    partition, as fast as it can be (every job fails at once and the next
    one starts elsewhere in the same partition), against librdkafka's
    mock cluster. librdkafka aborts the process when a partition is
    removed from an assignment twice before the first stop was served
    (wrk_reader.c, s_assign_settle): this test is that crash, and goes
    red (the binary aborts) without the settle.
*/
#include <criterion/criterion.h>

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <string.h>

#include "wrk_config.h"
#include "wrk_kafka.h"
#include "wrk_reader.h"

//  SEEKS alternating seeks: the first in the partition, the next a long
//  way ahead (beyond what reading on covers), so that each one assigns.
#define SEEKS 3000

Test (reassign, seeks_in_one_partition_as_fast_as_they_come)
{
    char err[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new ();
    cr_assert_eq (rd_kafka_conf_set (conf, "log_level", "2", err, sizeof err),
                  RD_KAFKA_CONF_OK);
    rd_kafka_t *host = rd_kafka_new (RD_KAFKA_PRODUCER, conf, err, sizeof err);
    cr_assert_not_null (host, "%s", err);
    rd_kafka_mock_cluster_t *mock = rd_kafka_mock_cluster_new (host, 1);
    cr_assert_not_null (mock);
    cr_assert_eq (rd_kafka_mock_topic_create (mock, "in", 1, 1),
                  RD_KAFKA_RESP_ERR_NO_ERROR);

    wrk_config_t cfg;
    memset (&cfg, 0, sizeof cfg);
    cfg.brokers = (char *)rd_kafka_mock_cluster_bootstraps (mock);
    cfg.batch_size = 100;
    wrk_kafka_fatal_t *fatal = wrk_kafka_fatal_new ();
    cr_assert_not_null (fatal);
    wrk_reader_t *reader = wrk_reader_new (&cfg, fatal, err, sizeof err);
    cr_assert_not_null (reader, "%s", err);
    for (int i = 0; i < SEEKS; i++) {
        int64_t start = i % 2 ? 100000000 : 0;
        cr_assert_eq (
            wrk_reader_position (reader, "in", 0, start, err, sizeof err), 0,
            "seek %d: %s", i, err);
    }
    //  Closing removes the partition once more.
    wrk_reader_destroy (&reader);
    wrk_kafka_fatal_destroy (&fatal);
    rd_kafka_mock_cluster_destroy (mock);
    rd_kafka_destroy (host);
}
