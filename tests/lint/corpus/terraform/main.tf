resource "aws_lb" "api" {
  name               = "chat-api"
  internal           = false
  load_balancer_type = "application"
  security_groups    = [aws_security_group.lb.id]
  subnets            = var.public_subnets
  idle_timeout       = 25 # expect: aws-alb/idle-timeout

  access_logs {
    bucket  = "lb-logs"
    enabled = true
  }
}

resource "aws_lb" "default_idle" {
  name    = "chat-web"
  subnets = var.public_subnets
}

resource "aws_lb" "grpc" {
  name               = "chat-nlb"
  load_balancer_type = "network"
  idle_timeout       = 10
}

resource "google_compute_backend_service" "chat" { # expect: gcp-lb/backend-timeout
  name        = "chat-backend"
  protocol    = "HTTP"
  port_name   = "http"
  health_checks = [google_compute_health_check.chat.id]

  backend {
    group = google_compute_instance_group_manager.chat.instance_group
  }
}

resource "google_compute_backend_service" "stream" {
  name        = "stream-backend"
  protocol    = "HTTP"
  timeout_sec = 3600
}

resource "google_compute_region_backend_service" "internal" {
  name        = "internal-backend"
  timeout_sec = 120 # expect: gcp-lb/backend-timeout
}
