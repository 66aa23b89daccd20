package access

import (
	"runtime"
	"testing"
	"unsafe"

	"github.com/apogee-dev/apogee"
)

func TestDeviceOf(t *testing.T) {
	for _, tc := range []struct{ ua, want string }{
		{"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36", apogee.DeviceDesktop},
		{"Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:121.0) Gecko/20100101 Firefox/121.0", apogee.DeviceDesktop},
		{"Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1", apogee.DeviceMobile},
		{"Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Mobile Safari/537.36", apogee.DeviceMobile},
		{"Mozilla/5.0 (iPad; CPU OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1", apogee.DeviceTablet},
		{"Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)", apogee.DeviceBot},
		{"Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)", apogee.DeviceBot},
		{"facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)", apogee.DeviceBot},
		{"curl/8.5.0", apogee.DeviceBot},
		{"python-requests/2.31.0", apogee.DeviceBot},
		{"Go-http-client/1.1", apogee.DeviceBot},
		{"Mozilla/5.0", apogee.DeviceOther},
	} {
		if got := deviceOf(tc.ua); got != tc.want {
			t.Errorf("deviceOf(%q) = %q, want %q", tc.ua, got, tc.want)
		}
	}
}

// TestLogHoldsFewObjects: what a Log keeps beside its buffer is a few
// objects, not a parser's trie. The garbage collector marks every object
// a Log holds on every cycle, on the edge's CPU: go-useragent's 166,000
// objects cost the edge 3% of its CPU with the access log on.
func TestLogHoldsFewObjects(t *testing.T) {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	l, err := New(Config{Buffer: 1 << 14})
	if err != nil {
		t.Fatal(err)
	}
	l.device("Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1")
	runtime.GC()
	runtime.ReadMemStats(&after)
	objects := int64(after.HeapObjects) - int64(before.HeapObjects)
	buffer := int64(1<<14) * int64(unsafe.Sizeof(Entry{}))
	beside := int64(after.HeapAlloc) - int64(before.HeapAlloc) - buffer
	t.Logf("a Log holds %d objects and %d KiB beside its %d KiB buffer", objects, beside>>10, buffer>>10)
	if objects > 2000 || beside > 1<<20 {
		t.Errorf("a Log holds %d objects and %d KiB beside its %d KiB buffer; want at most 2,000 and 1 MiB", objects, beside>>10, buffer>>10)
	}
	runtime.KeepAlive(l)
}
