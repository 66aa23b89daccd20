// Command signinattack is bench/signin-attack.sh's attacker: it sends
// wrong sign-ins to an Apogee server's POST /api/v1/auth/login from many
// connections until its duration ends, each connection from its own
// loopback source address (127.0.0.2, 127.0.0.3, …) so that the
// server's per-address limit does not end the attack early, as it would
// for one address, and prints what the server answered.
//
// Only loopback servers are attacked: the -server URL must be on
// 127.0.0.0/8.
package main

import (
	"context"
	"flag"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"sort"
	"strings"
	"sync"
	"time"
)

func main() {
	server := flag.String("server", "", "the server's base URL, e.g. http://127.0.0.1:8080")
	conns := flag.Int("c", 64, "parallel connections")
	sources := flag.Int("sources", 200, "loopback source addresses to spread the connections over (1: all from 127.0.0.1)")
	duration := flag.Duration("d", 10*time.Second, "how long to attack")
	flag.Parse()
	u, err := url.Parse(*server)
	if err != nil || net.ParseIP(u.Hostname()) == nil || !net.ParseIP(u.Hostname()).IsLoopback() {
		fmt.Fprintln(os.Stderr, "signinattack: -server must be an http:// URL on a loopback address, e.g. http://127.0.0.1:8080")
		os.Exit(2)
	}
	ctx, cancel := context.WithTimeout(context.Background(), *duration)
	defer cancel()
	var mu sync.Mutex
	codes := map[string]int{}
	var wg sync.WaitGroup
	for i := range *conns {
		src := net.IPv4(127, 0, byte(i%*sources/254), byte(2+i%*sources%254))
		if *sources <= 1 {
			src = net.IPv4(127, 0, 0, 1)
		}
		d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: src}}
		client := &http.Client{Transport: &http.Transport{DialContext: d.DialContext, MaxIdleConnsPerHost: 1}}
		wg.Go(func() {
			for n := 0; ctx.Err() == nil; n++ {
				body := fmt.Sprintf(`{"email":"user%d@example.com","password":"guess-%d-%d"}`, n%500, i, n)
				req, _ := http.NewRequestWithContext(ctx, "POST", *server+"/api/v1/auth/login", strings.NewReader(body))
				req.Header.Set("Content-Type", "application/json")
				res, err := client.Do(req)
				key := ""
				if err != nil {
					if ctx.Err() != nil {
						return
					}
					key = "error"
				} else {
					res.Body.Close()
					key = fmt.Sprint(res.StatusCode)
				}
				mu.Lock()
				codes[key]++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	var keys []string
	total := 0
	for k, n := range codes {
		keys = append(keys, k)
		total += n
	}
	sort.Strings(keys)
	var parts []string
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s:%d", k, codes[k]))
	}
	fmt.Printf("sign-ins %d in %v (%s)\n", total, *duration, strings.Join(parts, " "))
}
