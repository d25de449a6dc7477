package local

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	toxiproxy "github.com/Shopify/toxiproxy/v2"
	"github.com/Shopify/toxiproxy/v2/toxics"
	"github.com/rs/zerolog"
)

// How the links model faults with toxiproxy (one proxy per client-server
// link, both directions):
//
//   - Cut is a black hole: a "timeout" toxic with timeout 0 on both
//     directions drops every byte, on live connections and on new ones,
//     the way a real partition drops packets (calls hang until their
//     deadline instead of failing fast). Disabling the proxy was the other
//     choice; it refuses connections at once, which is a friendlier fault
//     than a partition, and re-listening on the same port after the heal
//     can race with another socket. Healing removes the toxic, whose
//     cleanup closes the stalled connections, as TCP eventually would
//     after a long partition; clients reconnect.
//   - Loss: toxiproxy has no packet-loss toxic, and dropping bytes of a TCP
//     stream would model a corrupted connection, not a lossy network. On a
//     lossy network TCP retransmits, so loss shows as stalls: the lossToxic
//     below holds each chunk with probability p for a retransmission
//     timeout, doubling on every further loss, and resets the connection
//     after maxRetries losses in a row, as TCP gives up. Order and content
//     are kept.
//   - Latency: a "latency" toxic of d/2 on each direction, so a round trip
//     grows by d.
const (
	lossToxicType   = "ares_loss"
	lossRTO         = 200 * time.Millisecond
	lossMaxRetries  = 6
	toxicCutUp      = "cut_up"
	toxicCutDown    = "cut_down"
	toxicLossUp     = "loss_up"
	toxicLossDown   = "loss_down"
	toxicLatencyUp  = "latency_up"
	toxicLatencyDwn = "latency_down"
)

func init() {
	toxics.Register(lossToxicType, new(lossToxic))
}

// lossToxic delays chunks the way TCP retransmission does on a lossy link;
// see above.
type lossToxic struct {
	// Probability that one transmission of a chunk is lost.
	Probability float64 `json:"probability"`
	// RTO is the first retransmission timeout in milliseconds.
	RTO int64 `json:"rto"`
	// MaxRetries losses in a row reset the connection.
	MaxRetries int `json:"max_retries"`
}

// Pipe implements toxics.Toxic.
func (t *lossToxic) Pipe(stub *toxics.ToxicStub) {
	for {
		select {
		case <-stub.Interrupt:
			return
		case c := <-stub.Input:
			if c == nil {
				stub.Close()
				return
			}
			var delay time.Duration
			rto := time.Duration(t.RTO) * time.Millisecond
			for i := 0; rand.Float64() < t.Probability; i++ {
				if i >= t.MaxRetries {
					stub.Close()
					return
				}
				delay += rto << i
			}
			if delay > 0 {
				timer := time.NewTimer(delay)
				select {
				case <-timer.C:
				case <-stub.Interrupt:
					timer.Stop()
					// Never drop a chunk on removal: pass it on and stop.
					stub.Output <- c
					return
				}
			}
			stub.Output <- c
		}
	}
}

// link is one client-server path through an in-process toxiproxy proxy.
type link struct {
	client, server string
	proxy          *toxiproxy.Proxy

	mu      sync.Mutex
	cut     bool
	loss    float64
	latency time.Duration
}

// proxies owns every link of a cluster.
type proxies struct {
	api *toxiproxy.ApiServer
}

func newProxies() *proxies {
	// The toxiproxy API server is only the parent object proxies log and
	// count metrics through; its HTTP API is never started.
	api := toxiproxy.NewServer(toxiproxy.NewMetricsContainer(nil), zerolog.Nop())
	return &proxies{api: api}
}

// newLink starts a proxy on a free loopback port in front of upstream.
func (p *proxies) newLink(client, server, upstream string) (*link, error) {
	px := toxiproxy.NewProxy(p.api, client+"->"+server, "127.0.0.1:0", upstream)
	if err := px.Start(); err != nil {
		return nil, fmt.Errorf("start proxy %s->%s: %w", client, server, err)
	}
	return &link{client: client, server: server, proxy: px}, nil
}

// Addr is where the client dials to reach the server over this link.
func (l *link) Addr() string { return l.proxy.Listen }

func (l *link) addToxic(name, typ, stream string, toxicity float64, attrs any) error {
	body, err := json.Marshal(map[string]any{
		"name": name, "type": typ, "stream": stream, "toxicity": toxicity, "attributes": attrs,
	})
	if err != nil {
		return fmt.Errorf("toxic %s: %w", name, err)
	}
	if _, err := l.proxy.Toxics.AddToxicJson(bytes.NewReader(body)); err != nil {
		return fmt.Errorf("add toxic %s on %s: %w", name, l.proxy.Name, err)
	}
	return nil
}

func (l *link) removeToxic(name string) {
	// Not found is fine: removal is idempotent.
	_ = l.proxy.Toxics.RemoveToxic(context.Background(), name)
}

// SetCut cuts (black-holes) or heals the link.
func (l *link) SetCut(cut bool) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if cut == l.cut {
		return nil
	}
	if !cut {
		l.removeToxic(toxicCutUp)
		l.removeToxic(toxicCutDown)
		l.cut = false
		return nil
	}
	attrs := map[string]any{"timeout": 0}
	if err := l.addToxic(toxicCutUp, "timeout", "upstream", 1, attrs); err != nil {
		return err
	}
	if err := l.addToxic(toxicCutDown, "timeout", "downstream", 1, attrs); err != nil {
		l.removeToxic(toxicCutUp)
		return err
	}
	l.cut = true
	return nil
}

// SetLoss sets the loss probability (0 heals).
func (l *link) SetLoss(p float64) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if p == l.loss {
		return nil
	}
	l.removeToxic(toxicLossUp)
	l.removeToxic(toxicLossDown)
	l.loss = 0
	if p <= 0 {
		return nil
	}
	attrs := lossToxic{Probability: p, RTO: lossRTO.Milliseconds(), MaxRetries: lossMaxRetries}
	if err := l.addToxic(toxicLossUp, lossToxicType, "upstream", 1, attrs); err != nil {
		return err
	}
	if err := l.addToxic(toxicLossDown, lossToxicType, "downstream", 1, attrs); err != nil {
		l.removeToxic(toxicLossUp)
		return err
	}
	l.loss = p
	return nil
}

// SetLatency adds d to every round trip (0 heals).
func (l *link) SetLatency(d time.Duration) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if d == l.latency {
		return nil
	}
	l.removeToxic(toxicLatencyUp)
	l.removeToxic(toxicLatencyDwn)
	l.latency = 0
	if d <= 0 {
		return nil
	}
	half := d / 2
	up := map[string]any{"latency": half.Milliseconds()}
	down := map[string]any{"latency": (d - half).Milliseconds()}
	if err := l.addToxic(toxicLatencyUp, "latency", "upstream", 1, up); err != nil {
		return err
	}
	if err := l.addToxic(toxicLatencyDwn, "latency", "downstream", 1, down); err != nil {
		l.removeToxic(toxicLatencyUp)
		return err
	}
	l.latency = d
	return nil
}

// Faulty reports whether any fault is set on the link.
func (l *link) Faulty() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.cut || l.loss > 0 || l.latency > 0
}

// Close stops the proxy and closes every connection through it.
func (l *link) Close() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.proxy.Stop()
}
