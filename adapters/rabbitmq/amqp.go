package rabbitmq

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
)

// dial opens an AMQP connection to vhost with the target's credentials.
// Neither the credentials nor the vhost go into the URL: the user and
// password travel in the SASL PLAIN exchange and the vhost in
// connection.open as it is, so no name is ever escaped twice (issue 13: the
// default vhost "/" once reached the broker as "%2f").
func (b *broker) dial(ctx context.Context, vhost string) (*amqp.Connection, error) {
	pw, err := b.password(ctx)
	if err != nil {
		return nil, err
	}
	base := b.cfg.amqpURL()
	if _, err := url.Parse(base); err != nil {
		return nil, badURL("amqp_url", err)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	conn, err := amqp.DialConfig(base, amqp.Config{
		SASL:       []amqp.Authentication{&amqp.PlainAuth{Username: b.cfg.user(), Password: pw}},
		Vhost:      vhost,
		Dial:       amqp.DefaultDial(10 * time.Second),
		Heartbeat:  10 * time.Second,
		Properties: amqp.Table{"connection_name": "drillbook"},
	})
	if err != nil {
		// The error text never holds the URL's password: there is none.
		return nil, amqpError(b.cfg, vhost, err)
	}
	return conn, nil
}

// amqpError explains a failed connection by what the operator must change.
func amqpError(cfg Config, vhost string, err error) error {
	where := fmt.Sprintf("connect to %s vhost %q as %s", VhostURL(redactURL(cfg.amqpURL()), vhost), vhost, cfg.user())
	var ae *amqp.Error
	if errors.As(err, &ae) {
		switch {
		case ae.Code == amqp.AccessRefused:
			return fmt.Errorf("%s: login refused: check rabbitmq.user and rabbitmq.password: %w", where, err)
		case ae.Code == amqp.NotAllowed && strings.Contains(ae.Reason, "not found"):
			return fmt.Errorf("%s: the vhost does not exist on node %s: check the vhost's name (rabbitmqctl list_vhosts): %w", where, cfg.Node, err)
		case ae.Code == amqp.NotAllowed:
			return fmt.Errorf("%s: the user has no permissions on this vhost: grant them (rabbitmqctl set_permissions -p VHOST USER '.*' '.*' '.*') or set rabbitmq.user to a user that has them: %w", where, err)
		}
	}
	return fmt.Errorf("%s: %w: check rabbitmq.amqp_url and that the node is up and not in maintenance", where, err)
}

// VhostURL returns the URL of vhost on an AMQP listener (base, without
// credentials or path): the vhost is one path segment, percent-encoded
// once, so the default vhost "/" is "%2F" exactly once
// (amqp://127.0.0.1:5672/%2F) and "oro/shop é" is "oro%2Fshop%20%C3%A9".
// amqp091-go and every RabbitMQ client decode it back to the name.
func VhostURL(base, vhost string) string {
	return strings.TrimRight(base, "/") + "/" + url.PathEscape(vhost)
}

// badURL reports a target URL that does not parse. url.Error quotes the
// whole URL, credentials included, so only its reason is kept.
func badURL(field string, err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	return fmt.Errorf("rabbitmq.%s is not a URL: fix it in targets.yaml: %w", field, err)
}

func redactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return "(unparsable url)"
	}
	u.User = nil
	return u.String()
}

// count returns the exact number of ready messages of each queue through a
// passive queue.declare (immediate, unlike the statistics, which lag for
// quorum queues after a boot: pitfall 12). A queue that does not exist gets
// -1.
func (b *broker) count(ctx context.Context, qs []queue) (map[string]int, error) {
	byVhost := map[string][]queue{}
	for _, q := range qs {
		byVhost[q.Vhost] = append(byVhost[q.Vhost], q)
	}
	counts := make(map[string]int, len(qs))
	for vhost, list := range byVhost {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		conn, err := b.dial(ctx, vhost)
		if err != nil {
			return nil, err
		}
		ch, err := conn.Channel()
		for _, q := range list {
			if err != nil {
				conn.Close()
				return nil, fmt.Errorf("open a channel on vhost %q: %w", vhost, err)
			}
			st, derr := ch.QueueDeclarePassive(q.Name, true, false, false, false, nil)
			var ae *amqp.Error
			if errors.As(derr, &ae) && ae.Code == amqp.NotFound {
				counts[q.key()] = -1
				ch, err = conn.Channel() // a 404 closes the channel
				continue
			}
			if derr != nil {
				conn.Close()
				return nil, fmt.Errorf("passive declare of %s: %w", q.label(), derr)
			}
			counts[q.key()] = st.Messages
		}
		conn.Close()
	}
	return counts, nil
}

// topicMatch reports whether routing key rk matches an AMQP topic pattern
// (words separated by dots, * one word, # zero or more words). A pattern
// without wildcards matches the key exactly.
func topicMatch(pattern, rk string) bool {
	return matchWords(strings.Split(pattern, "."), strings.Split(rk, "."))
}

func matchWords(p, w []string) bool {
	for len(p) > 0 {
		switch p[0] {
		case "#":
			for i := 0; i <= len(w); i++ {
				if matchWords(p[1:], w[i:]) {
					return true
				}
			}
			return false
		case "*":
			if len(w) == 0 {
				return false
			}
		default:
			if len(w) == 0 || w[0] != p[0] {
				return false
			}
		}
		p, w = p[1:], w[1:]
	}
	return len(w) == 0
}

// exclusion is what exclude did.
type exclusion struct {
	Seen, Moved, Kept int
}

// exclude moves every message of vhost/queue whose routing key matches one
// of patterns into holdQueue (published with confirms, then acked), and puts
// every other message back where it was: those are held unacked and
// released together when the channel closes, so the broker requeues them in
// their original order with their original routing keys (re-publishing
// through the default exchange would rewrite the key to the queue's name,
// reference §7). The caller deletes holdQueue afterwards.
func (b *broker) exclude(ctx context.Context, vhost, queueName, holdQueue string, patterns []string, progress func(string)) (exclusion, error) {
	var ex exclusion
	conn, err := b.dial(ctx, vhost)
	if err != nil {
		return ex, err
	}
	defer conn.Close()
	ch, err := conn.Channel()
	if err != nil {
		return ex, err
	}
	st, err := ch.QueueDeclarePassive(queueName, true, false, false, false, nil)
	if err != nil {
		return ex, fmt.Errorf("%s: %w", qlabel(vhost, queueName), err)
	}
	total := st.Messages
	if total == 0 {
		return ex, nil
	}
	// The hold queue is deleted with everything in it at the end, so it
	// must be new: an existing queue of that name is someone's data.
	probe, err := conn.Channel()
	if err != nil {
		return ex, err
	}
	if _, err := probe.QueueDeclarePassive(holdQueue, true, false, false, false, nil); err == nil {
		return ex, fmt.Errorf("queue %q already exists in vhost %q: the exclusion deletes its hold queue with everything in it; give another hold_queue", holdQueue, vhost)
	} else if ae := (*amqp.Error)(nil); !errors.As(err, &ae) || ae.Code != amqp.NotFound {
		return ex, fmt.Errorf("check that %q does not exist in vhost %q: %w", holdQueue, vhost, err)
	}
	pub, err := conn.Channel()
	if err != nil {
		return ex, err
	}
	if _, err := pub.QueueDeclare(holdQueue, true, false, false, false, nil); err != nil {
		return ex, fmt.Errorf("declare %s: %w", qlabel(vhost, holdQueue), err)
	}
	if err := pub.Confirm(false); err != nil {
		return ex, err
	}
	deliveries, err := ch.ConsumeWithContext(ctx, queueName, "drillbook-exclude", false, true, false, false, nil)
	if err != nil {
		return ex, fmt.Errorf("consume %s (an exclusive consumer: stop every other consumer first): %w", qlabel(vhost, queueName), err)
	}
	idle := time.NewTimer(10 * time.Second)
	defer idle.Stop()
	for ex.Seen < total {
		var d amqp.Delivery
		var ok bool
		select {
		case d, ok = <-deliveries:
			if !ok {
				return ex, fmt.Errorf("the broker closed the consumer on %s after %d of %d messages: nothing was lost, unmoved messages are requeued", qlabel(vhost, queueName), ex.Seen, total)
			}
		case <-idle.C:
			return ex, fmt.Errorf("no message from %s for 10s after %d of %d", qlabel(vhost, queueName), ex.Seen, total)
		case <-ctx.Done():
			return ex, fmt.Errorf("exclusion interrupted after %d of %d messages (unmoved ones are requeued): %w", ex.Seen, total, ctx.Err())
		}
		idle.Reset(10 * time.Second)
		ex.Seen++
		if !matchesAny(patterns, d.RoutingKey) {
			ex.Kept++
			continue
		}
		headers := amqp.Table{}
		for k, v := range d.Headers {
			headers[k] = v
		}
		headers["x-drillbook-excluded-from"] = queueName
		headers["x-drillbook-routing-key"] = d.RoutingKey
		conf, err := pub.PublishWithDeferredConfirmWithContext(ctx, "", holdQueue, true, false, amqp.Publishing{
			Headers: headers, ContentType: d.ContentType, ContentEncoding: d.ContentEncoding,
			DeliveryMode: d.DeliveryMode, Priority: d.Priority, CorrelationId: d.CorrelationId,
			ReplyTo: d.ReplyTo, Expiration: d.Expiration, MessageId: d.MessageId, Timestamp: d.Timestamp,
			Type: d.Type, UserId: d.UserId, AppId: d.AppId, Body: d.Body,
		})
		if err != nil {
			return ex, fmt.Errorf("move a message to %s: %w", holdQueue, err)
		}
		if ok, err := conf.WaitContext(ctx); err != nil {
			return ex, fmt.Errorf("no confirm for a message moved to %s (the original stays in %s): %w", holdQueue, queueName, err)
		} else if !ok {
			return ex, fmt.Errorf("the broker refused (nack) a message moved to %s (the original stays in %s): check the node's log", holdQueue, queueName)
		}
		if err := d.Ack(false); err != nil {
			return ex, err
		}
		ex.Moved++
		if progress != nil && ex.Seen%10000 == 0 {
			progress(fmt.Sprintf("%d of %d messages looked at, %d moved", ex.Seen, total, ex.Moved))
		}
	}
	// Closing the channel requeues the kept (unacked) messages in order.
	if err := ch.Close(); err != nil {
		return ex, fmt.Errorf("release kept messages: %w", err)
	}
	return ex, nil
}

func matchesAny(patterns []string, rk string) bool {
	for _, p := range patterns {
		if topicMatch(p, rk) {
			return true
		}
	}
	return false
}

// deleteQueue deletes vhost/name and returns how many messages it held.
func (b *broker) deleteQueue(ctx context.Context, vhost, name string) (int, error) {
	conn, err := b.dial(ctx, vhost)
	if err != nil {
		return 0, err
	}
	defer conn.Close()
	ch, err := conn.Channel()
	if err != nil {
		return 0, err
	}
	n, err := ch.QueueDelete(name, false, false, false)
	if err != nil {
		return 0, fmt.Errorf("delete %s: %w", qlabel(vhost, name), err)
	}
	return n, nil
}
