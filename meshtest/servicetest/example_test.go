package servicetest_test

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/wasmesh/wasmesh/meshtest/servicetest"
)

// In a test: r := servicetest.Redis(t), and the keys go at t.Cleanup. The
// New form is for TestMain and examples. These examples need the servers
// running, as the tests do.
func ExampleRedis() {
	ctx := context.Background()
	r, cleanup, err := servicetest.NewRedis("example")
	if err != nil {
		fmt.Println(err)
		return
	}
	r.Client.Set(ctx, r.Key("greeting"), "hello", 0)
	fmt.Println(r.Client.Get(ctx, r.Key("greeting")).Val())
	fmt.Println("cleanup:", cleanup())
	// Output:
	// hello
	// cleanup: <nil>
}

// In a test: s := servicetest.Postgres(t); connect with s.DSN and every
// unqualified table lands in the test's schema, dropped at t.Cleanup.
func ExamplePostgres() {
	ctx := context.Background()
	s, cleanup, err := servicetest.NewPostgres("example")
	if err != nil {
		fmt.Println(err)
		return
	}
	conn, err := pgx.Connect(ctx, s.DSN)
	if err != nil {
		fmt.Println(err)
		return
	}
	_, err = conn.Exec(ctx, "CREATE TABLE orders (id int)")
	fmt.Println("create:", err)
	var inSchema bool
	_ = conn.QueryRow(ctx, "SELECT current_schema() = $1", s.Schema).Scan(&inSchema)
	fmt.Println("in the test's schema:", inSchema)
	conn.Close(ctx)
	fmt.Println("cleanup:", cleanup())
	// Output:
	// create: <nil>
	// in the test's schema: true
	// cleanup: <nil>
}

// In a test: v := servicetest.RabbitMQ(t); v.URL points into a vhost of
// its own, deleted with its queues at t.Cleanup.
func ExampleRabbitMQ() {
	v, cleanup, err := servicetest.NewRabbitMQ("example")
	if err != nil {
		fmt.Println(err)
		return
	}
	conn, err := amqp.Dial(v.URL)
	if err != nil {
		fmt.Println(err)
		return
	}
	ch, _ := conn.Channel()
	q, err := ch.QueueDeclare("jobs", false, false, false, false, nil)
	fmt.Println("declared", q.Name, err)
	conn.Close()
	fmt.Println("cleanup:", cleanup())
	// Output:
	// declared jobs <nil>
	// cleanup: <nil>
}
