// Package drill holds the real-broker disaster drill: drillbook's built
// binary runs the shipped rabbitmq-backup and rabbitmq-restore runbooks in
// plain mode against a private RabbitMQ node, which is wiped and started
// afresh in between, and every classic-queue message is then consumed and
// compared with what was published. It has tests only.
package drill
