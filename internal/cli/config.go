package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// Config is what the CLI keeps between runs, in ConfigPath.
type Config struct {
	Server string `json:"server,omitempty"`
	Token  string `json:"token,omitempty"`
	// TokenID and Email describe Token, so logout can revoke it.
	TokenID string `json:"token_id,omitempty"`
	Email   string `json:"email,omitempty"`
	// Team is the current scope (`apogee switch`): new projects, the
	// project list and the audit log are that team's; "" is personal.
	Team string `json:"team,omitempty"`
}

// ConfigPath returns $XDG_CONFIG_HOME/apogee/config.json, or the
// platform's equivalent.
func ConfigPath() (string, error) {
	dir, err := os.UserConfigDir()
	if err != nil {
		return "", fmt.Errorf("find the config folder: %w", err)
	}
	return filepath.Join(dir, "apogee", "config.json"), nil
}

// LoadConfig reads the config file; a missing file is an empty Config.
func LoadConfig() (*Config, error) {
	path, err := ConfigPath()
	if err != nil {
		return nil, err
	}
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return &Config{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	var c Config
	if err := json.Unmarshal(b, &c); err != nil {
		return nil, fmt.Errorf("read config %s: %w", path, err)
	}
	return &c, nil
}

// SaveConfig writes c to the config file, readable by its owner only
// (0600 in a 0700 folder), replacing the old file in one rename.
func SaveConfig(c *Config) error {
	path, err := ConfigPath()
	if err != nil {
		return err
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("write config: %w", err)
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		return fmt.Errorf("write config: %w", err)
	}
	b, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		return err
	}
	f, err := os.CreateTemp(dir, ".config-*.json") // created 0600
	if err != nil {
		return fmt.Errorf("write config: %w", err)
	}
	defer os.Remove(f.Name())
	if _, err := f.Write(append(b, '\n')); err != nil {
		f.Close()
		return fmt.Errorf("write config: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write config: %w", err)
	}
	if err := os.Rename(f.Name(), path); err != nil {
		return fmt.Errorf("write config: %w", err)
	}
	return nil
}

// resolve returns the server and token to use: the config file, then
// $APOGEE_SERVER and $APOGEE_TOKEN, then --server and --token, each
// overriding the one before.
func (a *app) resolve() (*Config, error) {
	c, err := LoadConfig()
	if err != nil {
		return nil, err
	}
	fileServer := c.Server
	if v := os.Getenv("APOGEE_SERVER"); v != "" {
		c.Server = v
	}
	if v := os.Getenv("APOGEE_TOKEN"); v != "" {
		c.Token = v
	}
	if a.server != "" {
		c.Server = a.server
	}
	if a.token != "" {
		c.Token = a.token
	}
	c.Server = normalizeServer(c.Server)
	// The file's token belongs to the file's server: do not send it to
	// another one.
	if c.Server != normalizeServer(fileServer) && a.token == "" && os.Getenv("APOGEE_TOKEN") == "" {
		c.Token, c.TokenID, c.Email, c.Team = "", "", "", ""
	}
	return c, nil
}
