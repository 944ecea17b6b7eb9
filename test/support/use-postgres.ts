process.env.PULSE_TEST_DATABASE = 'postgres';
