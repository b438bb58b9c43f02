#!/bin/bash
set -xe

export PYTHONPATH="./"

start_mode=${1:-api}

start_knowledge(){
  # 知识库解析的celery worker
    celery -A bisheng.worker.main worker -l info -c 20 -P threads --prefetch-multiplier=1 -Q knowledge_celery -n knowledge@%h
}

start_workflow(){
  # 工作流相关的celery worker
    celery -A bisheng.worker.main worker -l info -c 100 -P threads -Q workflow_celery -n workflow@%h
}

start_beat(){
  # 定时任务调度
    celery -A bisheng.worker.main beat -l info
}

start_linsight(){
  # 灵思后台任务worker
    python bisheng/linsight/worker.py --worker_num 4 --max_concurrency 5
}
start_default(){
    # 默认其他任务的执行worker，目前是定时统计埋点数据
    celery -A bisheng.worker.main worker -l info -c 100 -P threads -Q celery -n celery@%h
}

start_pdf(){
    # 统一 PDF 派生产物使用独立低并发 worker
    celery -A bisheng.worker.main worker -l info -c "${KNOWLEDGE_PDF_CONCURRENCY:-2}" -P threads -Q knowledge_pdf_celery -n knowledge_pdf@%h
}

start_points_award(){
    # 积分异步发分专用队列，避免被共享 Broker 上远端 default Worker 抢走
    celery -A bisheng.worker.main worker -l info -c "${POINTS_AWARD_CONCURRENCY:-20}" -P threads -Q points_award_celery -n points_award@%h
}

if [ "$start_mode" = "api" ]; then
    echo "Running database migrations..."
    alembic upgrade head || echo "WARNING: alembic migration failed, continuing startup..."
    echo "Starting API server..."
    uvicorn bisheng.main:app --host 0.0.0.0 --port 7860 --no-access-log --workers 1 --reload
elif [ "$start_mode" = "knowledge" ]; then
    echo "Starting Knowledge Celery worker..."
    start_knowledge
elif [ "$start_mode" = "workflow" ]; then
    echo "Starting Workflow Celery worker..."
    start_workflow
elif [ "$start_mode" = "beat" ]; then
    echo "Starting Celery beat..."
    start_beat
elif [ "$start_mode" = "default" ]; then
    echo "Starting default celery worker..."
    start_default
elif [ "$start_mode" = "pdf" ]; then
    echo "Starting Knowledge PDF Celery worker..."
    start_pdf
elif [ "$start_mode" = "points_award" ]; then
    echo "Starting Points Award Celery worker..."
    start_points_award
elif [ "$start_mode" = "linsight" ]; then
    echo "Starting LinSight worker..."
    start_linsight
elif [ "$start_mode" = "worker" ]; then
    echo "Starting All worker..."
    # 处理知识库相关任务的worker
    start_knowledge &
    # 处理工作流相关任务的worker
    start_workflow &
    # 处理linsight相关任务的worker
    start_linsight &
    # 默认其他任务的执行worker，目前是定时统计埋点数据
    start_default &
    # 积分异步发分专用 worker
    start_points_award &
    start_beat

    echo "All workers started successfully."
else
    echo "Invalid start mode. Use api、worker、knowledge、workflow、beat、default、pdf、points_award、linsight."
    exit 1
fi
